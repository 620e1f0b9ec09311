"""Operations helpers: pool-size optimizer, system and lag sampling, alert evaluation, config hot-reload."""
