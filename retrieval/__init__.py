"""Knowledge base: load, clean, chunk, deduplicate, embed, index and search support articles.

Never imports graph/ or supportbot/ (see docs/ARCHITECTURE in ../shared).
"""
