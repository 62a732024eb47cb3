"""Real-world style ESG report passages (English and Korean) used by the demo, the
benchmark and the stack tests' traffic."""

SAMPLES: tuple[tuple[str, str], ...] = (
    ("scope1", "Our gross direct Scope 1 GHG emissions were 48,200 tonnes of CO2 equivalent "
               "in 2024, down 12% from the 2019 base year, mainly from natural gas boilers "
               "and the company vehicle fleet."),
    ("scope2", "Indirect Scope 2 emissions from purchased electricity totalled 21,300 tCO2e "
               "(location-based) and 9,800 tCO2e (market-based) thanks to renewable energy "
               "certificates."),
    ("water", "Total water withdrawal across all sites was 3.2 megalitres, of which 40% came "
              "from areas with high baseline water stress; water discharge is treated before "
              "release."),
    ("safety", "The lost-time injury rate for employees and contractors fell to 0.21 per "
               "200,000 hours worked, and there were no work-related fatalities during the "
               "year."),
    ("board", "The Board's Sustainability Committee oversees climate-related risks and "
              "opportunities and reviews progress against our net-zero targets every "
              "quarter."),
    ("scenario", "We assessed the resilience of our strategy under a 1.5°C and a 3°C climate "
                 "scenario, including carbon pricing and physical flood risk at coastal "
                 "plants."),
    ("anticorruption", "All employees completed anti-corruption and bribery training, and "
                       "100% of operations were assessed for risks related to corruption."),
    ("diversity", "Women make up 34% of our workforce and 25% of senior management; the "
                  "ratio of basic salary of women to men is 0.94."),
    ("waste", "We generated 12,400 tonnes of waste, of which 78% was diverted from disposal "
              "through recycling and reuse; hazardous waste is handled by licensed "
              "contractors."),
    ("ko_scope1", "2024년 당사의 직접 온실가스 배출량(Scope 1)은 48,200 tCO2eq로 기준연도 대비 "
                  "12% 감소했습니다."),
    ("ko_energy", "사업장 전체의 에너지 소비량은 1,250 TJ이며, 이 중 재생에너지 비중은 "
                  "35%입니다."),
    ("ko_safety", "임직원과 협력사 근로자의 산업재해율은 0.21로 전년 대비 감소하였고, "
                  "중대재해는 발생하지 않았습니다."),
)

SCOPE1 = SAMPLES[0][1]
