"""Adult / paediatric population of each film (``infer.infer_population``) and its age sources."""
