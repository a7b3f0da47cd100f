"""Member side of the e-cooperation hub: feed profile, writer, validator and sample member sites."""
