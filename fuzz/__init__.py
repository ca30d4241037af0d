"""virtcheck.fuzz"""
