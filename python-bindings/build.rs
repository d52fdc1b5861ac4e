fn main() {
    // Exposes cfgs such as `Py_GIL_DISABLED` of the target interpreter to this crate.
    pyo3_build_config::use_pyo3_cfgs();
}
