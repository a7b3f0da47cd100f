"""Member side of the e-cooperation hub.

Feed profile, writer, validator and sample member sites.
"""
