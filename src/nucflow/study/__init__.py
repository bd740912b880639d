"""nucflow.study"""
