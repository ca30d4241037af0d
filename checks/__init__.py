"""virtcheck.checks"""
