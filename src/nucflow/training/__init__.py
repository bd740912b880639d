"""nucflow.training"""
