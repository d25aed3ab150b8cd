"""Word lists the generator draws names from.

Kept apart from the tunable numbers in `generator.py`: these only shape how the data reads,
never how much of it there is. Domains are the reserved `example.*` names so that no
generated address can belong to a real person.
"""

# fmt: off
FIRST_NAMES = (
    "Aiko", "Amara", "Ana", "Arjun", "Ben", "Camila", "Chen", "Chloe", "Daniel", "Diego",
    "Elena", "Emma", "Fatima", "Gabriel", "Hana", "Ines", "Ivan", "Jamal", "Julia", "Kenji",
    "Lars", "Leila", "Lucas", "Maria", "Mateo", "Mei", "Noah", "Olivia", "Omar", "Priya",
    "Rafael", "Sara", "Sofia", "Tariq", "Tom", "Valentina", "Wei", "Yuki", "Zara", "Zoe",
)

LAST_NAMES = (
    "Adams", "Alvarez", "Brown", "Chen", "Costa", "Dubois", "Fischer", "Garcia", "Gupta",
    "Hall", "Ito", "Jensen", "Kim", "Kowalski", "Lee", "Lopez", "Martin", "Mendes", "Moreau",
    "Muller", "Nakamura", "Nguyen", "Novak", "Okafor", "Park", "Patel", "Rossi", "Santos",
    "Schmidt", "Silva", "Singh", "Smith", "Suzuki", "Tanaka", "Taylor", "Wang", "Williams",
    "Wong", "Yamamoto", "Zhang",
)

GUEST_HANDLES = (
    "cinephile", "filmbuff", "moviefan", "popcorn", "reelwatcher", "screenlover",
    "bingewatcher", "premierenight", "boxofficebuff", "matineefan", "trailerhunter",
    "sequelseeker",
)

EMAIL_DOMAINS = (
    "example.com", "example.net", "example.org", "mail.example.com", "fans.example.net",
    "inbox.example.org",
)

FRANCHISE_ADJECTIVES = (
    "Amber", "Broken", "Crimson", "Dark", "Electric", "Emerald", "Endless", "Fallen", "Frozen",
    "Golden", "Hidden", "Hollow", "Iron", "Last", "Lost", "Midnight", "Neon", "Obsidian",
    "Phantom", "Quiet", "Rising", "Scarlet", "Shattered", "Silent", "Silver", "Starlit",
    "Stolen", "Velvet", "Wild", "Winter",
)

FRANCHISE_NOUNS = (
    "Armada", "Empire", "Frontier", "Garden", "Guardians", "Harbor", "Horizon", "Kingdom",
    "Legacy", "Machine", "Meridian", "Odyssey", "Orbit", "Outpost", "Paradox", "Protocol",
    "Reckoning", "Rebellion", "River", "Saga", "Sentinel", "Signal", "Skyline", "Storm",
    "Summit", "Tide", "Vanguard", "Voyage", "Wanderers", "Zenith",
)

SEQUEL_SUBTITLES = (
    "Aftermath", "Awakening", "Beyond the Edge", "Blood Moon", "Dawn", "Echoes", "Exodus",
    "First Light", "Homecoming", "Into the Deep", "Origins", "Redemption", "Resurrection",
    "Retribution", "Revelation", "Second Chance", "Shadows", "The Return", "The Reckoning",
    "Uprising",
)
# fmt: on
