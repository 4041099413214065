"""crimcareer.study"""
