"""Planning on top of a build: nearest venues and gaps, residential demand, siting study stations, alliances, maps."""
