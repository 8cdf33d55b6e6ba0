; returns double total
; ModuleID = '<string>'
source_filename = "<string>"
target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128"
target triple = "x86_64-unknown-linux-gnu"

; Function Attrs: mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write)
define linkonce_odr noundef i32 @jgh_hash_uniform_i64_i64(ptr noalias nocapture writeonly initializes((0, 8)) %retptr, ptr noalias nocapture readnone %excinfo, i64 %arg.a0, i64 %arg.a1) local_unnamed_addr #0 {
B0:
  %const2 = bitcast i64 -4658895280553007687 to i64
  %const1 = bitcast i64 -7046029254386353131 to i64
  %const = bitcast i64 -7723592293110705685 to i64
  %.7 = mul i64 %arg.a0, %const1
  %.8 = lshr i64 %.7, 30
  %.9 = xor i64 %.8, %.7
  %.10 = mul i64 %.9, %const2
  %.11 = lshr i64 %.10, 27
  %.12 = xor i64 %.11, %.10
  %.13 = mul i64 %.12, %const
  %.14 = lshr i64 %.13, 31
  %.15 = xor i64 %.14, %.13
  %0 = mul i64 %arg.a1, %const1
  %.17 = add i64 %0, %const1
  %.18 = add i64 %.17, %.15
  %.19 = lshr i64 %.18, 30
  %.20 = xor i64 %.19, %.18
  %.21 = mul i64 %.20, %const2
  %.22 = lshr i64 %.21, 27
  %.23 = xor i64 %.22, %.21
  %.24 = mul i64 %.23, %const
  %1 = lshr i64 %.24, 42
  %2 = lshr i64 %.24, 11
  %.27 = xor i64 %1, %2
  %.28 = uitofp nneg i64 %.27 to double
  %.29 = fmul reassoc contract double %.28, 0x3CA0000000000000
  store double %.29, ptr %retptr, align 8
  ret i32 0
}

attributes #0 = { mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write) }
