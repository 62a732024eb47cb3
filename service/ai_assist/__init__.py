"""AI Assist: maps ESG report passages to GRI / SASB / TCFD / ESRS disclosures."""

__version__ = "1.0.0"
