"""Human handoff: queue, routing, agent workspace (see issue "Human handoff")."""
