"""The study service: create a study, fill it from parallel workers, report and export the best.

Commands: `python -m study create|worker|run|status` and `python -m study.best export|evaluate`.
"""
