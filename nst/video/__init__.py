"""Video: stylised clips without flicker (Ruder, Dosovitskiy & Brox 2016). ``frames`` reads and
writes clips (PyAV), ``flow`` warps the previous output to the next frame (OpenCV's DIS flow),
``stylize_video`` runs the frames in order. PyAV and OpenCV load on first use only."""
