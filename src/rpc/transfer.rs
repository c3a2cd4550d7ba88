//! Download, Upload, ScheduleDownload, CancelTransfer, GetQueuedTransfers and
//! GetAllQueuedTransfers, ChangeDUState: checks against [`RpcContext::transfers`], the work itself is an
//! [`Action`] for the main loop's transfer queue.

use super::{wrong_request, Action, Reply, RpcContext};
use crate::fault::{Fault, FaultCode};
use crate::soap::{AcsRequest, CpeResponse, QueuedTransfer};
use crate::transfer::{check, queue, MAX_TRANSFERS};

/// 9004 when the queue is full.
fn room(ctx: &RpcContext) -> Result<(), Fault> {
    if ctx.transfers.len() >= MAX_TRANSFERS {
        return Err(Fault::with_message(
            FaultCode::RESOURCES_EXCEEDED,
            format!("already {MAX_TRANSFERS} transfers queued"),
        ));
    }
    Ok(())
}

pub(super) fn download(req: &AcsRequest, ctx: &mut RpcContext) -> Result<Reply, Fault> {
    let AcsRequest::Download(a) = req else {
        return Err(wrong_request(req));
    };
    check::download(a)?;
    room(ctx)?;
    // Status 1: queued; the times are the Unknown Time until TransferComplete.
    let resp = CpeResponse::Download {
        status: 1,
        start_time: None,
        complete_time: None,
    };
    Ok((resp, vec![Action::Download(a.clone())]))
}

pub(super) fn upload(req: &AcsRequest, ctx: &mut RpcContext) -> Result<Reply, Fault> {
    let AcsRequest::Upload(a) = req else {
        return Err(wrong_request(req));
    };
    check::upload(a)?;
    room(ctx)?;
    let resp = CpeResponse::Upload {
        status: 1,
        start_time: None,
        complete_time: None,
    };
    Ok((resp, vec![Action::Upload(a.clone())]))
}

pub(super) fn schedule_download(req: &AcsRequest, ctx: &mut RpcContext) -> Result<Reply, Fault> {
    let AcsRequest::ScheduleDownload(a) = req else {
        return Err(wrong_request(req));
    };
    check::schedule_download(a)?;
    room(ctx)?;
    Ok((
        CpeResponse::ScheduleDownload,
        vec![Action::ScheduleDownload(a.clone())],
    ))
}

pub(super) fn cancel(req: &AcsRequest, ctx: &mut RpcContext) -> Result<Reply, Fault> {
    let AcsRequest::CancelTransfer { command_key } = req else {
        return Err(wrong_request(req));
    };
    super::check_key("CommandKey", command_key)?;
    queue::check_cancel(ctx.transfers, command_key)?;
    let action = Action::CancelTransfer {
        command_key: command_key.clone(),
    };
    Ok((CpeResponse::CancelTransfer, vec![action]))
}

pub(super) fn get_queued(req: &AcsRequest, ctx: &mut RpcContext) -> Result<Reply, Fault> {
    if !matches!(req, AcsRequest::GetQueuedTransfers) {
        return Err(wrong_request(req));
    }
    // QueuedTransferStruct has only CommandKey and State.
    let transfers = ctx
        .transfers
        .iter()
        .map(|t| QueuedTransfer {
            command_key: t.command_key.clone(),
            state: t.state,
            ..QueuedTransfer::default()
        })
        .collect();
    Ok((CpeResponse::GetQueuedTransfers { transfers }, Vec::new()))
}

pub(super) fn get_all_queued(req: &AcsRequest, ctx: &mut RpcContext) -> Result<Reply, Fault> {
    if !matches!(req, AcsRequest::GetAllQueuedTransfers) {
        return Err(wrong_request(req));
    }
    let transfers = ctx.transfers.to_vec();
    Ok((CpeResponse::GetAllQueuedTransfers { transfers }, Vec::new()))
}

pub(super) fn change_du_state(req: &AcsRequest, ctx: &mut RpcContext) -> Result<Reply, Fault> {
    let AcsRequest::ChangeDuState {
        operations,
        command_key,
    } = req
    else {
        return Err(wrong_request(req));
    };
    super::check_key("CommandKey", command_key)?;
    crate::du::check(operations)?;
    if ctx.du_jobs >= crate::du::jobs::MAX_JOBS {
        return Err(Fault::with_message(
            FaultCode::RESOURCES_EXCEEDED,
            "too many ChangeDUState requests pending",
        ));
    }
    let action = Action::ChangeDuState {
        operations: operations.clone(),
        command_key: command_key.clone(),
    };
    Ok((CpeResponse::ChangeDuState, vec![action]))
}
