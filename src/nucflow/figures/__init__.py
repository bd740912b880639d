"""nucflow.figures"""
