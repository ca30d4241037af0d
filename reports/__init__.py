"""virtcheck.reports"""
