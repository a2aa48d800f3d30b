"""Chatterbox TTS Playground: logic modules (only `ui` imports gradio)."""
