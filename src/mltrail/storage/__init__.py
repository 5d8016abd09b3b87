"""Store contracts, their SQL implementation, artifact repositories and the scheme registry."""
