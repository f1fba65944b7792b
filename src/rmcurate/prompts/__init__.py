"""What a judge is asked: versioned templates (files/*.toml, pinned by files/LOCK) and how texts are
cut to fit them. The judges send these; the generative trainer learns from the same prompts."""
