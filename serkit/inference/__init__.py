"""serkit-infer's work, from inputs to records: ``options`` (what to do, and the model loaded for
it), ``inputs`` (files, wav.scp entries, speakers, turns, audio read ahead), ``jobs`` (the work in
one process or several) and ``records`` (files, segments and turns recognised, one record each).

    from serkit.inference.options import InferOptions
    from serkit.inference.records import recognise
    recognise(InferOptions(model="fold1.pt", inputs=["calls/"], utt2spk="utt2spk"))
"""
