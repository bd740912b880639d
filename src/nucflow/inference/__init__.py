"""nucflow.inference"""
