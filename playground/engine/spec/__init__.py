"""The spec and all that follows from it: the spec itself (model), the settings registry
(fields), the presets, the promise (semantics), what each fault may cost (fault_cost) and is
called (fault_words), and the clients' defaults (client_defaults)."""
