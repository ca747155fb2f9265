package cuda

// kernelNames lists every kernel the backend loads, by program: Open resolves all of them up
// front so a missing one fails at Open with its name, never in the middle of a training step.
func kernelNames() []string {
	var out []string
	for _, p := range programs {
		out = append(out, p.kernels...)
	}
	return out
}

// programs maps each embedded source to the kernels it defines.
var programs = []struct {
	file    string
	kernels []string
}{
	{"elementwise.cu", []string{"fill_f32", "scale_f32", "add_f32", "add_bias_f32", "gelu_f32", "gelu_bwd_f32",
		"quick_gelu_f32", "scale_rows_f32", "copy_rows_f32", "gather_rows_f32", "scatter_rows_f32",
		"scatter_add_rows_f32", "adamw_f32"}},
	{"rows.cu", []string{"layernorm_fwd", "layernorm_bwd_dx", "layernorm_bwd_params", "sum_rows_f32",
		"softmax_rows", "l2norm_fwd", "l2norm_bwd", "align_loss_partial", "sumsq_partial", "finish_sum"}},
	{"attention.cu", []string{"attn_fwd_d32", "attn_fwd_d64", "attn_fwd_d128", "attn_probs", "attn_head_mean"}},
	{"attention_tc.cu", []string{"attn_fwd_tc_d64"}},
	{"attention_bwd.cu", []string{"attn_bwd_dq_d32", "attn_bwd_dkv_d32", "attn_bwd_dq_d64", "attn_bwd_dkv_d64",
		"attn_bwd_dq_d128", "attn_bwd_dkv_d128"}},
}
