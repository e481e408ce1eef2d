"""ivrflow: IVR call flows as text files, checked, drawn, simulated, tested
and compiled to telephony platforms."""

__version__ = "0.1.0"
