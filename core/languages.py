"""Which languages Whisper has a token for, and what to do with one it has not.

Whisper's multilingual models know 100 languages, each by a token (`<|cy|>`); the decoder prompt starts with it.
A language outside the list (Irish, Scots Gaelic, a regional language) is trained and decoded under the token of a
related listed language (`--language-token cy` for Irish): its embedding already means "Celtic sounds, Latin
spelling", and nothing in the model has to change shape. Adding a new token would mean resizing the embeddings and
the output layer, a new row the LoRA adapter cannot learn (it adapts existing weights), and a model that
faster-whisper, CTranslate2 and `pipeline()` would all have to be told about; this project does not do that.

Kept here as data (light to import, the CLI checks settings before loading anything); tests/test_languages.py
checks it against transformers' own list.
"""

from __future__ import annotations

# Whisper's language codes, in its own order (transformers.models.whisper.tokenization_whisper.LANGUAGES)
WHISPER_LANGUAGES: tuple[str, ...] = (
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv", "it", "id", "hi",
    "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no", "th", "ur", "hr", "bg", "lt", "la",
    "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr", "az", "sl", "kn", "et", "mk", "br", "eu", "is", "hy",
    "ne", "mn", "bs", "kk", "sq", "sw", "gl", "mr", "pa", "si", "km", "sn", "yo", "so", "af", "oc", "ka", "be",
    "tg", "sd", "gu", "am", "yi", "lo", "uz", "fo", "ht", "ps", "tk", "nn", "mt", "sa", "lb", "my", "bo", "tl",
    "mg", "as", "tt", "haw", "ln", "ha", "ba", "jw", "su", "yue"
)


def is_listed(code: str) -> bool:
    return code.lower() in WHISPER_LANGUAGES


def is_english(language: str | None) -> bool:
    return language in (None, "en")
