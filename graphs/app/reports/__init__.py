"""The HTML reports: `synth`'s report.html and the seeds stage's `--report`."""
