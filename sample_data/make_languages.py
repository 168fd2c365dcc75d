"""Build the language and accent samples: Welsh, Irish and accented English, all synthetic (espeak-ng).

The vocabulary sample (make_samples.py) teaches words; these teach sounds. Each folder has a training recording
and parts kept apart from it exactly as the vocabulary sample's are: a **tuning** part (recipes are compared on it)
and a **test** part (scored once per change), each read by voice variants that no other part uses.

- `welsh/`: Welsh (`cy`), a language Whisper lists but handles poorly: train by espeak-ng `cy` and `cy+f2`,
  tuning by `cy+klatt`, test by `cy+m3` and `cy+f4`.
- `irish/`: Irish (`ga`), a language Whisper does not list (trained under a related language's token, see the
  README's "Languages Whisper does not list"): train by `ga` and `ga+f2`, test by `ga+m3` and `ga+f4`.
- `accent/`: plain English read with espeak-ng's German and Spanish voices (their letter-to-sound rules and
  vowels on English text: a strong foreign accent the English models transcribe badly): train by `de` and
  `es`, tuning by `de+klatt` and `es+klatt`, test by `de+m3` and `es+f4`.

Every sentence was written for this project. Usage: python sample_data/make_languages.py [-o sample_data]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_samples import Voice, build, encode_mp3  # noqa: E402

from core.captions import Captions, write  # noqa: E402

WELSH_TRAIN = (
    "Bore da, sut wyt ti heddiw?",
    "Mae hi'n braf iawn y bore 'ma.",
    "Rydw i'n byw mewn tŷ bach ger y môr.",
    "Mae'r plant yn chwarae yn yr ardd.",
    "Aethon ni i'r dref ddydd Sadwrn.",
    "Hoffwn i gael paned o de, os gwelwch yn dda.",
    "Mae fy mrawd yn gweithio mewn siop lyfrau.",
    "Roedd y trên yn hwyr eto neithiwr.",
    "Mae'r mynyddoedd yn hardd yn yr hydref.",
    "Beth yw dy enw di?",
    "Dw i'n hoffi darllen llyfrau Cymraeg.",
    "Bydd hi'n bwrw glaw yfory, medden nhw.",
    "Mae'r ci yn cysgu o flaen y tân.",
    "Prynais i fara a chaws yn y farchnad.",
    "Mae'r ysgol yn dechrau am naw o'r gloch.",
    "Ble mae'r orsaf drenau agosaf?",
    "Roedd y cyngerdd neithiwr yn wych.",
    "Mae fy nain yn siarad Cymraeg bob dydd.",
    "Rydyn ni'n mynd ar wyliau i'r gogledd.",
    "Mae'r afon yn llifo drwy'r pentref.",
    "Dw i ddim yn deall y cwestiwn.",
    "Mae'r llyfrgell ar agor tan chwech.",
    "Cafodd y tîm gêm dda ddoe.",
    "Mae'n amser cinio, dewch i fwyta.",
    "Gwelais i aderyn mawr ar y to.",
    "Mae'r siop ar gau ar ddydd Sul.",
    "Hoffet ti ddod i'r sinema heno?",
    "Mae'r ffermwr yn godro'r gwartheg.",
    "Rydw i wedi colli fy allweddi.",
    "Diolch yn fawr am eich help.",
)
WELSH_TUNING = (
    "Mae'r tywydd yn oer heddiw.",
    "Dw i'n mynd i'r gwaith ar y bws.",
    "Mae'r coffi yn rhy boeth.",
    "Roedd y gwesty yn lân ac yn dawel.",
    "Mae fy chwaer yn athrawes.",
    "Beth wyt ti'n wneud yfory?",
    "Mae'r gath yn eistedd ar y ffenest.",
    "Aeth y teulu i lan y môr.",
)
WELSH_TEST = (
    "Mae'r bws yn gadael am ddeg o'r gloch.",
    "Rydw i'n hoffi cerdded yn y goedwig.",
    "Mae'r bwyd yn flasus iawn heno.",
    "Ble wyt ti'n byw nawr?",
    "Mae'r dref yn brysur ar ddydd Llun.",
    "Roedd y plant yn canu yn y capel.",
    "Mae fy nhad yn trwsio'r car.",
    "Hoffwn i ddysgu chwarae'r delyn.",
    "Mae'r haul yn machlud dros y bae.",
    "Diolch am y croeso cynnes.",
)
IRISH_TRAIN = (
    "Dia duit, conas atá tú?",
    "Tá an aimsir go deas inniu.",
    "Is maith liom tae agus arán.",
    "Tá mé i mo chónaí i mBaile Átha Cliath.",
    "Chuaigh muid go dtí an trá inné.",
    "Tá an madra ina chodladh.",
    "Cá bhfuil an leabharlann?",
    "Tá an scoil dúnta Dé Sathairn.",
    "Is múinteoir í mo mháthair.",
    "Beidh sé ag cur báistí amárach.",
    "Tá na páistí ag súgradh sa ghairdín.",
    "Ba mhaith liom cupán caife.",
    "Tá an bus déanach arís.",
    "Labhraíonn mo sheanathair Gaeilge.",
    "Go raibh maith agat as do chabhair.",
    "Tá an fharraige ciúin anocht.",
)
IRISH_TEST = (
    "Tá an siopa oscailte anois.",
    "Cad is ainm duit?",
    "Tá ocras orm.",
    "Chonaic mé éan mór ar an díon.",
    "Tá an bainne sa chuisneoir.",
    "Slán go fóill, a chara.",
)
ACCENT_TRAIN = (
    "I usually take the early train into the city on Mondays.",
    "Could you tell me where the nearest pharmacy is?",
    "We painted the kitchen a pale shade of green last spring.",
    "My neighbour grows tomatoes and beans in her back garden.",
    "The museum is closed for repairs until the end of the month.",
    "He forgot his umbrella and got soaked on the way home.",
    "Please remember to switch off the lights when you leave.",
    "The children built a sandcastle next to the old pier.",
    "Our flight was delayed by almost three hours.",
    "She has been learning to play the violin since she was six.",
    "The bakery on the corner sells the best bread in town.",
    "I will call you back as soon as the meeting is over.",
    "They walked along the river until the sun went down.",
    "The doctor said I should drink more water every day.",
    "We need to buy a new washing machine this weekend.",
    "The library has a quiet room upstairs for reading.",
    "My brother fixed the bicycle with a borrowed spanner.",
    "It snowed so heavily that the schools were closed.",
    "The soup needs a little more salt and some pepper.",
    "Thank you very much for inviting us to the wedding.",
)
ACCENT_TUNING = (
    "The bus stop is just across the road from the bank.",
    "I prefer tea in the morning and coffee after lunch.",
    "The garden looks lovely after all that rain.",
    "Could we move the meeting to Thursday afternoon?",
    "He parked the car outside the post office.",
    "The shop assistant found my size in the back.",
)
ACCENT_TEST = (
    "The train to the airport leaves every twenty minutes.",
    "My grandmother knits warm jumpers for the whole family.",
    "We had dinner at a small restaurant by the harbour.",
    "The printer on the second floor has run out of paper.",
    "She waters the plants on the balcony every evening.",
    "The football match was cancelled because of the storm.",
    "I left my keys on the table next to the door.",
    "The new bridge will open to traffic in the summer.",
)


def _voices(*names: str, speed: int = 150) -> tuple[Voice, ...]:
    return tuple(Voice(name, speed) for name in names)


# folder → part → (sentences, voices, the language its captions are in)
SETS: dict[str, dict[str, tuple[tuple[str, ...], tuple[Voice, ...], str]]] = {
    "welsh": {"train": (WELSH_TRAIN, _voices("cy", "cy+f2"), "cy"),
              "tuning": (WELSH_TUNING, _voices("cy+klatt"), "cy"),
              "test": (WELSH_TEST, _voices("cy+m3", "cy+f4"), "cy")},
    "irish": {"train": (IRISH_TRAIN, _voices("ga", "ga+f2"), "ga"),
              "test": (IRISH_TEST, _voices("ga+m3", "ga+f4"), "ga")},
    "accent": {"train": (ACCENT_TRAIN, _voices("de", "es"), "en"),
               "tuning": (ACCENT_TUNING, _voices("de+klatt", "es+klatt"), "en"),
               "test": (ACCENT_TEST, _voices("de+m3", "es+f4"), "en")},
}


def check_apart() -> None:
    """No sentence in two parts of a folder; no voice in two parts either."""
    for folder, parts in SETS.items():
        seen_text: set[str] = set()
        seen_voices: set[str] = set()
        for part, (sentences, voices, _) in parts.items():
            if seen_text & set(sentences) or seen_voices & {v.name for v in voices}:
                raise SystemExit(f"{folder}/{part}: shares a sentence or a voice with another part")
            seen_text |= set(sentences)
            seen_voices |= {v.name for v in voices}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=Path(__file__).resolve().parent,
                        help="output folder (default: sample_data/)")
    args = parser.parse_args(argv)
    for tool in ("espeak-ng", "ffmpeg"):
        if shutil.which(tool) is None:
            print(f"error: {tool} is not installed", file=sys.stderr)
            return 2
    check_apart()
    with tempfile.TemporaryDirectory(prefix="make_languages.") as tmp:
        for folder, parts in SETS.items():
            (args.out / folder).mkdir(parents=True, exist_ok=True)
            for part, (sentences, voices, language) in parts.items():
                recording = build(sentences, voices, Path(tmp))
                encode_mp3(recording.samples, recording.rate, args.out / folder / f"{part}.mp3", Path(tmp))
                write(Captions(cues=recording.cues, language=language), args.out / folder / f"{part}.vtt")
                print(f"{folder}/{part}: {recording.seconds:.1f} s, {len(recording.cues)} cues, "
                      f"voices {', '.join(v.label for v in voices)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
