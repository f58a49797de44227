from citycc.native import enable as _enable_native

_enable_native()   # the compiled modules, if built from these sources (citycc.native)
