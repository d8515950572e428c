"""Every option of nst, declared once: ``config`` (``Config``, the options of ``nst stylize``
and of the library), ``arguments`` (each command's other arguments), in the vocabulary of
``kinds`` and ``checks``. ``flags`` makes argparse arguments of them, ``readme`` the README's
option table (``python -m nst.options --readme`` rewrites it), and ``run_settings`` is the part
of ``Config`` that the backends' optimiser loop takes.
"""
