"""crimcareer.adapters"""
