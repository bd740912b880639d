"""nucflow.attribution"""
