"""One module per node or rail; each exposes ``run(state, deps) -> update``. ``graph.build`` wires them."""
