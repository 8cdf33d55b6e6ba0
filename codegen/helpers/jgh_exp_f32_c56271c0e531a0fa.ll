; returns float total
; ModuleID = '<string>'
source_filename = "<string>"
target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128"
target triple = "x86_64-unknown-linux-gnu"

; Function Attrs: mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write)
define linkonce_odr noundef range(i32 -1, -2) i32 @jgh_exp_f32(ptr noalias writeonly captures(none) initializes((0, 4)) %retptr, ptr noalias readnone captures(none) %excinfo, float %arg.a0) local_unnamed_addr #0 {
B0:
  %.10.i = fcmp ogt float %arg.a0, 8.900000e+01
  br i1 %.10.i, label %_ZN7codegen8fastmath15_register_unary12_3clocals_3e3_ol12_3clocals_3e4implB2v2B66c8tJTIeFIjxB2IKSgI4CrvSCKg1MMbCQQPKkLTj8gEGFiHioNsyoh0kUQUzWBAA_3dEf.exit, label %B264.i

B264.i:                                           ; preds = %B0
  %.31.i = fcmp olt float %arg.a0, -1.040000e+02
  br i1 %.31.i, label %_ZN7codegen8fastmath15_register_unary12_3clocals_3e3_ol12_3clocals_3e4implB2v2B66c8tJTIeFIjxB2IKSgI4CrvSCKg1MMbCQQPKkLTj8gEGFiHioNsyoh0kUQUzWBAA_3dEf.exit, label %B286.i

B286.i:                                           ; preds = %B264.i
  br label %_ZN7codegen8fastmath15_register_unary12_3clocals_3e3_ol12_3clocals_3e4implB2v2B66c8tJTIeFIjxB2IKSgI4CrvSCKg1MMbCQQPKkLTj8gEGFiHioNsyoh0kUQUzWBAA_3dEf.exit

_ZN7codegen8fastmath15_register_unary12_3clocals_3e3_ol12_3clocals_3e4implB2v2B66c8tJTIeFIjxB2IKSgI4CrvSCKg1MMbCQQPKkLTj8gEGFiHioNsyoh0kUQUzWBAA_3dEf.exit: ; preds = %B286.i, %B264.i, %B0
  %.314.i = phi i1 [ true, %B264.i ], [ false, %B286.i ], [ false, %B0 ]
  %_make_exp__locals__exp_impl_v3__vphi70_0.2.0.i = phi float [ 0.000000e+00, %B264.i ], [ %arg.a0, %B286.i ], [ 8.900000e+01, %B0 ]
  %.52.i = fmul float %_make_exp__locals__exp_impl_v3__vphi70_0.2.0.i, 0x3FF7154760000000
  %.53.i = fadd float %.52.i, 0x4168000000000000
  %.54.i = fadd float %.53.i, 0xC168000000000000
  %.55.i = fmul float %.54.i, 0x3FE6300000000000
  %.56.i = fsub float %_make_exp__locals__exp_impl_v3__vphi70_0.2.0.i, %.55.i
  %.57.i = fmul float %.54.i, 0x3F2BD01060000000
  %0 = fadd float %.57.i, %.56.i
  %.59.i = fmul float %0, %0
  %.61.i = fmul float %0, 0x3F56D10FC0000000
  %.62.i = fadd float %.61.i, 0x3F8120B620000000
  %.63.i = fmul float %0, %.62.i
  %.64.i = fadd float %.63.i, 0x3FA55551A0000000
  %.65.i = fmul float %0, %.64.i
  %.66.i = fadd float %.65.i, 0x3FC5554DE0000000
  %.67.i = fmul float %0, %.66.i
  %.68.i = fadd float %.67.i, 5.000000e-01
  %.69.i = fmul float %.59.i, %.68.i
  %.70.i = fadd float %0, %.69.i
  %.71.i = fadd float %.70.i, 1.000000e+00
  %.72.i = bitcast float %.53.i to i32
  %.73.i = add i32 %.72.i, -1262485504
  %.74.i = ashr i32 %.73.i, 1
  %.75.i = sub i32 %.72.i, %.74.i
  %.76.i = shl i32 %.74.i, 23
  %.77.i = add i32 %.76.i, 1065353216
  %.78.i = bitcast i32 %.77.i to float
  %.79.i = fmul float %.71.i, %.78.i
  %.80.i = shl i32 %.75.i, 23
  %.81.i = add i32 %.80.i, 1065353216
  %.82.i = bitcast i32 %.81.i to float
  %.83.i = fmul float %.79.i, %.82.i
  %spec.select = select i1 %.314.i, float 0.000000e+00, float %.83.i
  store float %spec.select, ptr %retptr, align 4
  ret i32 0
}

attributes #0 = { mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write) }
