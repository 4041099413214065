"""crimcareer.report"""
