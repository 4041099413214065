"""crimcareer.synth"""
