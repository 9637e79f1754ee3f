"""A labelled set of names screened against the sample list (adapters/data/sdn_sample.csv):
each name with the entry it is a variant of, or None for a different person.

Variants are what a screening meets in practice: the list's "LAST, First" order
swapped, diacritics, hyphens and titles, transliterations of Arabic, Persian and
Cyrillic names, missing middle names and second surnames, initials, typos. The
non-matches share words with an entry (a first name, a surname, a particle) or sound
a little alike, as different people's names do. docs/aml.md reports the matcher's
precision and recall on this set; tests/aml/test_matcher.py asserts them.
"""

from __future__ import annotations

VARIANTS: list[tuple[str, str | None]] = [
    # NASRALLAH, Hasan (2686)
    ("Hasan Nasrallah", "2686"),
    ("Hassan Nasrallah", "2686"),
    ("Hasan Nasrullah", "2686"),
    ("NASRALLAH, Hassan", "2686"),
    ("Ḥasan Naṣrallāh", "2686"),
    # AL ZAWAHIRI, Dr. Ayman (2676)
    ("Ayman al-Zawahiri", "2676"),
    ("Dr. Ayman Al Zawahiri", "2676"),
    ("Aiman al Zawahri", "2676"),
    ("Ayman Zawahiri", "2676"),
    # RODRIGUEZ OREJUELA, Miguel Angel (4108) and Gilberto Jose (4107)
    ("Miguel Ángel Rodríguez Orejuela", "4108"),
    ("Miguel Angel Rodriguez-Orejuela", "4108"),
    ("Miguel A. Rodriguez Orejuela", "4108"),
    ("Miguel Rodriguez Orejuela", "4108"),
    ("Rodriguez Orejuela, Miguel", "4108"),
    ("Gilberto José Rodríguez Orejuela", "4107"),
    ("Gilberto Rodriguez Orejuela", "4107"),
    ("Guilberto Jose Rodrigues Orejuela", "4107"),
    # NASSER DAVID, Julio Cesar (6330); NASSER ARANA, Claudia Patricia (6334)
    ("Julio César Nasser David", "6330"),
    ("Julio Cesar Nasser", "6330"),
    ("Julio Nasser David", "6330"),
    ("Claudia Patricia Nasser Arana", "6334"),
    ("Claudia Nasser Arana", "6334"),
    ("Klaudia Patricia Naser Arana", "6334"),
    # BIN LADIN, Usama bin Muhammad bin Awad (6365)
    ("Usama bin Muhammad bin Awad bin Ladin", "6365"),
    ("Osama bin Mohammed bin Awad bin Laden", "6365"),
    ("Usama Muhammad Awad Ladin", "6365"),
    # TAN, Wee Beng (25686)
    ("Wee Beng Tan", "25686"),
    ("Tan Wee Beng", "25686"),
    ("TAN Wee-Beng", "25686"),
    # MENDOZA GAYTAN, Gonzalo (25692); GONZALEZ VALENCIA, Ulises Jovani (25697)
    ("Gonzalo Mendoza Gaytán", "25692"),
    ("Gonzalo Mendoza Gaitan", "25692"),
    ("Ulises Jovani González Valencia", "25697"),
    ("Ulises Giovanni Gonzalez Valencia", "25697"),
    ("Ulises Gonzalez Valencia", "25697"),
    # DAJMAR, Mohammad Hossein (25806)
    ("Mohammad Hossein Dajmar", "25806"),
    ("Muhammad Husain Dajmar", "25806"),
    ("Mohammed Hosein Dadjmar", "25806"),
    ("Mohamad Dajmar", "25806"),
    # ABBAS, Abu (2674)
    ("Abu Abbas", "2674"),
    ("Abou Abbas", "2674"),
    # Fictitious sample entries (9900001-9900005)
    ("Yevgeniy Arkadyevich Zhuravlyov", "9900001"),
    ("Evgeny Arkadievich Zhuravlev", "9900001"),
    ("Yevgeni Zhuravlyov", "9900001"),
    ("Евгений Журавлёв".replace("Евгений", "Evgenii").replace("Журавлёв", "Zhuravlyov"), "9900001"),
    ("Abdul Qadir Yusuf Al-Barraqi", "9900002"),
    ("Abd al-Qadir Yousef al Barraqi", "9900002"),
    ("Abdelkader Youssef Barraqi", "9900002"),
    ("Zbigniew Leszek Kowalczyk-Wróblewski", "9900003"),
    ("Zbigniew Kowalczyk Wroblewski", "9900003"),
    ("Kowalczyk-Wroblewski, Zbygniew", "9900003"),
    ("Folasade Titilayo Oyelaran-Adebayo", "9900004"),
    ("Folasade Oyelaran Adebayo", "9900004"),
    ("Ottoline Beatrix Quartermaine-Voss", "9900005"),
    ("Ottoline Quartermain Voss", "9900005"),
    # Different people: shared first names, surnames, particles, similar sounds.
    ("Hasan Yilmaz", None),
    ("Maria Nasrallah Haddad", None),
    ("Ayman Khalil", None),
    ("Miguel Angel Torres", None),
    ("Jose Rodriguez", None),
    ("Claudia Patricia Gomez", None),
    ("Julio Cesar Chavez", None),
    ("David Nasser", None),
    ("Muhammad Ali", None),
    ("Mohammad Reza Hosseini", None),
    ("Tan Wei Ming", None),
    ("Wee Kim Wee", None),
    ("Gonzalo Higuain", None),
    ("Erika Valencia", None),
    ("Ulises Mendoza", None),
    ("Yevgeny Petrov", None),
    ("Arkady Volkov", None),
    ("Abdul Rahman Yusuf", None),
    ("Zbigniew Boniek", None),
    ("Folasade Adeyemi", None),
    ("Beatrix Potter", None),
    ("Anna Kowalczyk", None),
    ("John Smith", None),
    ("Laden Awadh", None),
    ("Abbas Kiarostami", None),
    ("Rodrigo Orellana", None),
    ("Usman Khawaja", None),
    ("Christopher Nolan", None),
    ("Gilbert Ortega", None),
    ("Nasser Hussain", None),
]
