"""Vector-search candidates for the LLM and emulator tests: a Scope 1 passage's likely
neighbours, with the similarities a search would give them."""

from ai_assist.mapping.types import Candidate

GRI_305_1 = Candidate("GRI", "GRI 305-1", "Direct (Scope 1) GHG emissions",
                      "Gross direct (Scope 1) GHG emissions in metric tons of CO2 equivalent.",
                      0.62)
GRI_303_3 = Candidate("GRI", "GRI 303-3", "Water withdrawal",
                      "Total water withdrawal from all areas, and from areas with water stress.",
                      0.31)
ESRS_E1_6 = Candidate("ESRS", "ESRS E1-6", "Gross Scopes 1, 2, 3 and Total GHG emissions",
                      "Gross Scope 1, 2 and 3 and total greenhouse gas emissions.", 0.58)
GRI_305_2 = Candidate("GRI", "GRI 305-2", "Energy indirect (Scope 2) GHG emissions",
                      "Gross location-based and market-based energy indirect (Scope 2) "
                      "emissions.", 0.49)
TCFD_STRATEGY_C = Candidate("TCFD", "TCFD Strategy c", "Resilience of strategy | scenarios",
                            "Resilience of the strategy under climate-related scenarios, "
                            "including 2°C.", 0.22)
