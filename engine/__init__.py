"""descenso: experiments.yaml → plan → training → result store → claims → HTML/PDF handout."""

__version__ = "0.1.0"
