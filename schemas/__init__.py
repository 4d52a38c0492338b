"""newsflow's contracts: every topic (``schemas/topics/*.yaml``) and every message model (``schemas.messages``).

Services and tools name topics through :data:`schemas.topics.TOPICS`, never as string literals, shape
payloads only through the pydantic models in :mod:`schemas.messages`, and name headers through
:mod:`schemas.headers`. Declarations only: nothing in this package talks to Kafka or imports a service.
"""
