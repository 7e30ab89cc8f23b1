"""Per-country tables for the synthetic world: names, e-mail providers, phone formats, places.

Facts only (common first and last names, real postal codes and cities); no
real person is described. E-mail domains are the providers' names under the
reserved ``.example`` top-level domain (RFC 2606), so a synthetic address can
never reach, or be matched to, a real mailbox.
"""

from __future__ import annotations

import unicodedata

# Share of contacts per country (FR ≈ 70 %, the rest of the EU for the other 30 %).
COUNTRY_WEIGHTS: dict[str, int] = {"FR": 70, "BE": 7, "DE": 6, "ES": 5, "IT": 5, "NL": 3, "PT": 2, "LU": 2}

# How a CRM user typed the country: mostly the ISO code, often the name in some language.
COUNTRY_SPELLINGS: dict[str, tuple[tuple[str, int], ...]] = {
    "FR": (("FR", 40), ("France", 35), ("fr", 10), ("FRANCE", 8), ("france", 5), (" France ", 2)),
    "BE": (("BE", 40), ("Belgique", 30), ("Belgium", 15), ("België", 10), ("be", 5)),
    "DE": (("DE", 40), ("Germany", 25), ("Deutschland", 20), ("Allemagne", 10), ("de", 5)),
    "ES": (("ES", 40), ("Spain", 20), ("España", 25), ("Espagne", 10), ("es", 5)),
    "IT": (("IT", 40), ("Italy", 20), ("Italia", 25), ("Italie", 10), ("it", 5)),
    "NL": (("NL", 40), ("Netherlands", 25), ("Nederland", 20), ("Pays-Bas", 10), ("nl", 5)),
    "PT": (("PT", 50), ("Portugal", 45), ("pt", 5)),
    "LU": (("LU", 50), ("Luxembourg", 45), ("lu", 5)),
}

LANGUAGES: dict[str, tuple[tuple[str, int], ...]] = {
    "FR": (("fr", 90), ("en", 6), ("fr-fr", 4)),
    "BE": (("fr", 50), ("nl", 40), ("en", 10)),
    "DE": (("de", 90), ("en", 10)),
    "ES": (("es", 90), ("en", 10)),
    "IT": (("it", 90), ("en", 10)),
    "NL": (("nl", 85), ("en", 15)),
    "PT": (("pt", 90), ("en", 10)),
    "LU": (("fr", 45), ("de", 35), ("en", 20)),
}

FEMALE: dict[str, tuple[str, ...]] = {
    "FR": (
        "Marie",
        "Camille",
        "Léa",
        "Chloé",
        "Manon",
        "Inès",
        "Sarah",
        "Julie",
        "Emma",
        "Louise",
        "Hélène",
        "Anaïs",
        "Céline",
        "Élodie",
        "Nathalie",
        "Isabelle",
        "Sophie",
        "Françoise",
        "Catherine",
        "Aurélie",
        "Clémence",
        "Zoé",
        "Margaux",
        "Océane",
        "Amélie",
        "Brigitte",
        "Valérie",
        "Maëlle",
        "Noémie",
        "Agnès",
        "Anne-Sophie",
        "Marie-Claire",
    ),
    "BE": ("Marie", "Emma", "Louise", "Élise", "Sarah", "Laura", "Julie", "Lotte", "Fien", "Anaïs", "Hanne"),
    "DE": (
        "Anna",
        "Lena",
        "Hannah",
        "Sophie",
        "Marie",
        "Julia",
        "Katharina",
        "Jana",
        "Sabine",
        "Ursula",
        "Jülide",
        "Bärbel",
    ),
    "ES": ("María", "Lucía", "Paula", "Laura", "Marta", "Carmen", "Ana", "Sofía", "Elena", "Inés", "Begoña"),
    "IT": (
        "Giulia",
        "Sofia",
        "Aurora",
        "Alice",
        "Francesca",
        "Chiara",
        "Sara",
        "Martina",
        "Elena",
        "Federica",
    ),
    "NL": ("Emma", "Julia", "Sophie", "Anna", "Tess", "Sanne", "Lotte", "Fleur", "Noor", "Eva", "Anouk"),
    "PT": ("Maria", "Ana", "Beatriz", "Inês", "Mariana", "Leonor", "Matilde", "Joana", "Sofia", "Catarina"),
    "LU": ("Emma", "Mia", "Léa", "Sophie", "Anna", "Charlotte", "Lara", "Zoé"),
}

MALE: dict[str, tuple[str, ...]] = {
    "FR": (
        "Jean",
        "Pierre",
        "Thomas",
        "Nicolas",
        "Julien",
        "Antoine",
        "Lucas",
        "Hugo",
        "Louis",
        "Maxime",
        "Alexandre",
        "François",
        "Jérôme",
        "Stéphane",
        "Sébastien",
        "Frédéric",
        "Benoît",
        "Mathieu",
        "Théo",
        "Raphaël",
        "Gaëtan",
        "Loïc",
        "Cédric",
        "Jean-Pierre",
        "Jean-Luc",
        "Michel",
        "Philippe",
        "Olivier",
        "Rémi",
        "Noël",
    ),
    "BE": (
        "Lucas",
        "Louis",
        "Noah",
        "Arthur",
        "Thomas",
        "Maxime",
        "Wout",
        "Jens",
        "Pieter",
        "Mathis",
        "Gilles",
    ),
    "DE": (
        "Lukas",
        "Jonas",
        "Leon",
        "Felix",
        "Maximilian",
        "Paul",
        "Jürgen",
        "Stefan",
        "Thomas",
        "Michael",
        "Björn",
        "Jörg",
    ),
    "ES": (
        "José",
        "Antonio",
        "Manuel",
        "Francisco",
        "David",
        "Javier",
        "Daniel",
        "Carlos",
        "Jesús",
        "Álvaro",
        "Sergio",
    ),
    "IT": (
        "Francesco",
        "Alessandro",
        "Lorenzo",
        "Matteo",
        "Andrea",
        "Marco",
        "Luca",
        "Giuseppe",
        "Niccolò",
        "Giovanni",
    ),
    "NL": ("Daan", "Sem", "Lucas", "Levi", "Bram", "Thijs", "Ruben", "Jesse", "Sven", "Stijn"),
    "PT": (
        "João",
        "José",
        "António",
        "Francisco",
        "Tiago",
        "Rodrigo",
        "Martim",
        "Duarte",
        "Gonçalo",
        "Afonso",
    ),
    "LU": ("Gabriel", "Luca", "Noah", "Leo", "Tom", "Ben", "Jean", "Marc", "Luc"),
}

LAST: dict[str, tuple[str, ...]] = {
    "FR": (
        "Martin",
        "Bernard",
        "Dubois",
        "Thomas",
        "Robert",
        "Richard",
        "Petit",
        "Durand",
        "Leroy",
        "Moreau",
        "Simon",
        "Laurent",
        "Lefèbvre",
        "Michel",
        "Garcia",
        "David",
        "Bertrand",
        "Roux",
        "Vincent",
        "Fournier",
        "Morel",
        "Girard",
        "André",
        "Lefèvre",
        "Mercier",
        "Dupont",
        "Lambert",
        "Bonnet",
        "François",
        "Martinez",
        "Legrand",
        "Garnier",
        "Faure",
        "Rousseau",
        "Blanc",
        "Guérin",
        "Muller",
        "Henry",
        "Roussel",
        "Nicolas",
        "Perrin",
        "Morin",
        "Mathieu",
        "Clément",
        "Gauthier",
        "Dumont",
        "Lopez",
        "Fontaine",
        "Chevalier",
        "Robin",
        "Le Gall",
        "Le Goff",
        "N'Diaye",
        "Benoît",
        "Ferré",
        "D'Almeida",
        "Lemaître",
        "Gaillard",
        "Brunet",
        "Boyer",
        "Denis",
        "Nguyen",
    ),
    "BE": (
        "Peeters",
        "Janssens",
        "Maes",
        "Jacobs",
        "Mertens",
        "Willems",
        "Claes",
        "Goossens",
        "Wouters",
        "De Smet",
        "Dubois",
        "Lambert",
        "Dupont",
        "Martin",
        "Leclercq",
        "Van den Broeck",
    ),
    "DE": (
        "Müller",
        "Schmidt",
        "Schneider",
        "Fischer",
        "Weber",
        "Meyer",
        "Wagner",
        "Becker",
        "Schulz",
        "Hoffmann",
        "Schäfer",
        "Koch",
        "Bauer",
        "Richter",
        "Klein",
        "Wolf",
        "Schröder",
        "Neumann",
        "Schwarz",
        "Zimmermann",
        "Krüger",
        "Groß",
    ),
    "ES": (
        "García",
        "Fernández",
        "González",
        "Rodríguez",
        "López",
        "Martínez",
        "Sánchez",
        "Pérez",
        "Gómez",
        "Martín",
        "Jiménez",
        "Ruiz",
        "Hernández",
        "Díaz",
        "Moreno",
        "Muñoz",
        "Álvarez",
        "Núñez",
        "Peña",
    ),
    "IT": (
        "Rossi",
        "Russo",
        "Ferrari",
        "Esposito",
        "Bianchi",
        "Romano",
        "Colombo",
        "Ricci",
        "Marino",
        "Greco",
        "Bruno",
        "Gallo",
        "Conti",
        "De Luca",
        "Mancini",
        "Costa",
        "D'Angelo",
        "Lombardi",
    ),
    "NL": (
        "de Jong",
        "Jansen",
        "de Vries",
        "van den Berg",
        "van Dijk",
        "Bakker",
        "Janssen",
        "Visser",
        "Smit",
        "Meijer",
        "de Boer",
        "Mulder",
        "de Groot",
        "Bos",
        "Vos",
        "Peters",
    ),
    "PT": (
        "Silva",
        "Santos",
        "Ferreira",
        "Pereira",
        "Oliveira",
        "Costa",
        "Rodrigues",
        "Martins",
        "Jesus",
        "Sousa",
        "Fernandes",
        "Gonçalves",
        "Gomes",
        "Lopes",
        "Marques",
        "Conceição",
    ),
    "LU": (
        "Schmit",
        "Muller",
        "Weber",
        "Wagner",
        "Hoffmann",
        "Thill",
        "Schroeder",
        "Reuter",
        "Klein",
        "Schiltz",
        "Kieffer",
        "Meyer",
    ),
}

# Providers per country (weight), published under the reserved .example TLD.
EMAIL_PROVIDERS: dict[str, tuple[tuple[str, int], ...]] = {
    "FR": (
        ("gmail", 30),
        ("orange", 14),
        ("hotmail-fr", 10),
        ("yahoo-fr", 8),
        ("free", 8),
        ("laposte", 6),
        ("sfr", 5),
        ("outlook-fr", 5),
        ("wanadoo", 4),
        ("icloud", 4),
        ("hotmail", 3),
        ("live-fr", 3),
    ),
    "BE": (("gmail", 40), ("hotmail", 15), ("skynet", 15), ("telenet", 15), ("outlook", 10), ("proximus", 5)),
    "DE": (("gmail", 30), ("web-de", 25), ("gmx", 20), ("t-online", 15), ("yahoo-de", 5), ("outlook", 5)),
    "ES": (("gmail", 45), ("hotmail-es", 25), ("yahoo-es", 10), ("outlook", 15), ("telefonica", 5)),
    "IT": (
        ("gmail", 40),
        ("libero", 20),
        ("hotmail-it", 15),
        ("yahoo-it", 10),
        ("virgilio", 10),
        ("alice", 5),
    ),
    "NL": (
        ("gmail", 40),
        ("hotmail-nl", 20),
        ("ziggo", 15),
        ("kpnmail", 10),
        ("outlook", 10),
        ("live-nl", 5),
    ),
    "PT": (("gmail", 50), ("sapo", 25), ("hotmail", 15), ("outlook", 10)),
    "LU": (("gmail", 50), ("pt-lu", 25), ("hotmail", 15), ("outlook", 10)),
}

# International dialling code and the national trunk prefix ("0" or none).
DIAL: dict[str, tuple[str, str]] = {
    "FR": ("33", "0"),
    "BE": ("32", "0"),
    "DE": ("49", "0"),
    "ES": ("34", ""),
    "IT": ("39", ""),
    "NL": ("31", "0"),
    "PT": ("351", ""),
    "LU": ("352", ""),
}

# (postal code, city, population weight) for the non-French contacts.
FOREIGN_PLACES: dict[str, tuple[tuple[str, str, int], ...]] = {
    "BE": (
        ("1000", "Bruxelles", 180),
        ("2000", "Antwerpen", 530),
        ("4000", "Liège", 195),
        ("9000", "Gent", 265),
        ("5000", "Namur", 110),
        ("8000", "Brugge", 118),
        ("1050", "Ixelles", 87),
    ),
    "DE": (
        ("10115", "Berlin", 3600),
        ("80331", "München", 1500),
        ("20095", "Hamburg", 1850),
        ("50667", "Köln", 1080),
        ("60311", "Frankfurt am Main", 760),
        ("70173", "Stuttgart", 630),
        ("04109", "Leipzig", 600),
        ("79098", "Freiburg im Breisgau", 230),
    ),
    "ES": (
        ("28001", "Madrid", 3300),
        ("08001", "Barcelona", 1640),
        ("41001", "Sevilla", 685),
        ("46001", "València", 800),
        ("29001", "Málaga", 580),
        ("48001", "Bilbao", 345),
    ),
    "IT": (
        ("00118", "Roma", 2760),
        ("20121", "Milano", 1370),
        ("80121", "Napoli", 910),
        ("10121", "Torino", 850),
        ("50122", "Firenze", 360),
        ("40121", "Bologna", 390),
    ),
    "NL": (
        ("1011 AB", "Amsterdam", 920),
        ("3011 AA", "Rotterdam", 660),
        ("2511 BT", "Den Haag", 560),
        ("3511 AA", "Utrecht", 370),
        ("5611 AA", "Eindhoven", 240),
    ),
    "PT": (
        ("1100-148", "Lisboa", 545),
        ("4000-322", "Porto", 232),
        ("3000-143", "Coimbra", 140),
        ("8000-077", "Faro", 65),
    ),
    "LU": (
        ("1111", "Luxembourg", 135),
        ("4001", "Esch-sur-Alzette", 37),
        ("9001", "Ettelbruck", 10),
        ("3401", "Dudelange", 22),
    ),
}


# The long tail of surnames. The tables above hold each country's most common surnames; real
# populations draw most of theirs from a tail of hundreds of thousands (the 100 commonest French
# surnames cover only a few per cent of people). Without a tail, a world of 100,000 contacts had
# 18,269 distinct full names, and an author's display name almost never named one person.
# Built from syllables, deterministic, 2**SURNAME_TAIL_BITS per family of countries; some
# combinations may happen to be real surnames, and describe nobody.
SURNAME_TAIL_BITS = 14
SURNAME_TAIL_SHARE = 0.5  # share of contacts whose surname comes from the tail
_TAIL_STARTS = (
    "Bal Bar Bel Ben Ber Bor Bru Cal Car Cas Col Cor Dal Dar Del Dor Fal Far Fer Gal Gar Ger Gor "
    "Hal Har Her Lam Lan Lar Lor Mal Mar Mel Mor Nal Nor Pal Par Per Por Ral Ros Sal San Tar Tor "
    "Val Ver Bon Cam Dan Fon Gil Jor Lem Mon Pir Rob Sav Tes Vil Wal Bou Cha Rou Lou Fou Gau Rey Tho"
).split()
_TAIL_MIDDLES = ("", "a", "e", "i", "o", "u", "an", "en", "in", "on", "ar", "er", "el", "il", "ol", "ur")
_TAIL_ENDINGS = {
    "french": ("ard", "aud", "eau", "el", "et", "ier", "in", "on", "ot", "oux", "ac", "and", "ant", "eux", "ois", "y"),
    "germanic": (
        "mann", "er", "ert", "el", "ke", "ing", "hof", "berg", "feld", "stein", "ler", "haus", "dijk", "sen",
        "man", "ens",
    ),
    "southern": (
        "ez", "es", "as", "os", "ini", "etti", "ano", "ino", "ero", "ado", "eira", "elli", "one", "ucci",
        "aro", "iro",
    ),
}  # fmt: skip
_TAIL_FAMILY = {
    "FR": "french", "BE": "french", "LU": "french", "DE": "germanic", "NL": "germanic",
    "ES": "southern", "IT": "southern", "PT": "southern",
}  # fmt: skip


def surname_tail(country: str) -> tuple[str, ...]:
    """2**SURNAME_TAIL_BITS distinct surnames for ``country``'s family of languages, in a fixed order."""
    endings = _TAIL_ENDINGS[_TAIL_FAMILY[country]]
    names: dict[str, None] = {}
    for ending in endings:
        for middle in _TAIL_MIDDLES:
            for start in _TAIL_STARTS:
                names.setdefault(start + middle + ending, None)
    size = 1 << SURNAME_TAIL_BITS
    if len(names) < size:
        raise ValueError(f"the surname syllables give {len(names)} names, fewer than {size}")
    return tuple(names)[:size]


def fold(text: str) -> str:
    """ASCII letters of a name as people write it in an e-mail address: ``Hélène`` → ``helene``."""
    text = text.replace("ß", "ss").replace("ø", "o").replace("æ", "ae")
    decomposed = unicodedata.normalize("NFKD", text)
    out = "".join(ch for ch in decomposed if ch.isascii() and (ch.isalnum() or ch == "-"))
    return out.lower()
