"""Every settings group of the config file, defined so that `tools.settings.check_config_file` checks the keys
of each table whatever the command: a `[ray]` typo stops `serve` and `chat` too, not only `synth --ray`."""

from __future__ import annotations


def define_all_groups() -> None:
    """Import the modules that define the groups (`[llm]`, `[synth]`, `[sandbox]`, `[agents]`, `[ray]`)."""
    import graphs.app.ray_synth
    import graphs.app.sandbox_settings
    import graphs.context
    import graphs.roster  # noqa: F401
    import tools.llm.settings  # noqa: F401
