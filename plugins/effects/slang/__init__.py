"""RetroArch slang presets: .slangp/.slang -> GL-ready GLSL and a description of the passes."""
