"""Modal screens: confirmations, forms, and the gate decision."""
