"""nucflow.data"""
