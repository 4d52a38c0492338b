"""newsflow's contracts: every topic (``schemas/topics/*.yaml``) and every message model (``schemas.messages``).

Services and tools name topics through :data:`schemas.topics.TOPICS`, never as string literals, and shape
payloads only through the pydantic models in :mod:`schemas.messages`.
"""
