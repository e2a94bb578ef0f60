//! Arrow Flight SQL over a DataFusion session: statements are planned by `GetFlightInfo` and run by
//! `DoGet`, whose ticket names the planned statement.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Mutex;

use arrow::array::RecordBatch;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightServiceServer;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::server::FlightSqlService;
use arrow_flight::sql::{CommandStatementQuery, ProstMessageExt, SqlInfo, TicketStatementQuery};
use arrow_flight::{FlightDescriptor, FlightEndpoint, FlightInfo, Ticket};
use datafusion::prelude::{DataFrame, SessionContext};
use futures::{Stream, TryStreamExt};
use prost::Message;
use tonic::{Request, Response, Status};

/// Serves `ctx` over Flight SQL on `addr` until the task is dropped.
pub async fn serve(ctx: SessionContext, addr: SocketAddr) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .add_service(FlightServiceServer::new(FlightSql { ctx, planned: Mutex::default() }))
        .serve(addr)
        .await
}

struct FlightSql {
    ctx: SessionContext,
    /// Statements planned by `GetFlightInfo`, by ticket number, until `DoGet` runs them: planned
    /// once, and (live) on the snapshot current when the client asked.
    planned: Mutex<(u64, BTreeMap<u64, DataFrame>)>,
}

/// Planned statements kept for a `DoGet`; older ones are dropped.
const PLANNED_KEPT: usize = 1024;

fn failed(e: impl std::fmt::Display) -> Status {
    Status::invalid_argument(e.to_string())
}

#[tonic::async_trait]
impl FlightSqlService for FlightSql {
    type FlightService = FlightSql;

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let frame = self.ctx.sql(&query.query).await.map_err(failed)?;
        let schema = frame.schema().as_arrow().clone();
        let number = {
            let mut planned = self.planned.lock().unwrap_or_else(|e| e.into_inner());
            let (next, frames) = &mut *planned;
            *next += 1;
            frames.insert(*next, frame);
            while frames.len() > PLANNED_KEPT {
                frames.pop_first();
            }
            *next
        };
        let ticket = TicketStatementQuery { statement_handle: number.to_be_bytes().to_vec().into() };
        let endpoint = FlightEndpoint::new().with_ticket(Ticket::new(ticket.as_any().encode_to_vec()));
        let info = FlightInfo::new()
            .try_with_schema(&schema)
            .map_err(failed)?
            .with_endpoint(endpoint)
            .with_descriptor(request.into_inner());
        Ok(Response::new(info))
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as arrow_flight::flight_service_server::FlightService>::DoGetStream>, Status> {
        let number = <[u8; 8]>::try_from(ticket.statement_handle.as_ref()).map(u64::from_be_bytes).map_err(failed)?;
        let frame = self.planned.lock().unwrap_or_else(|e| e.into_inner()).1.remove(&number);
        let frame = frame.ok_or_else(|| Status::not_found("unknown or expired ticket: ask GetFlightInfo again"))?;
        let schema = frame.schema().as_arrow().clone().into();
        let batches = frame.execute_stream().await.map_err(failed)?.map_err(|e| FlightError::ExternalError(e.into()));
        let stream = FlightDataEncoderBuilder::new().with_schema(schema).build(batches).map_err(Status::from);
        let stream: Pin<Box<dyn Stream<Item = Result<arrow_flight::FlightData, Status>> + Send>> = Box::pin(stream);
        Ok(Response::new(stream))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

/// Runs one statement on a Flight SQL server at `addr` (`host:port`) and collects its batches.
pub async fn query(addr: &str, sql: &str) -> Result<Vec<RecordBatch>, String> {
    let url = format!("http://{addr}");
    let channel = tonic::transport::Endpoint::from_shared(url.clone())
        .map_err(|_| format!("`{addr}` is not a host:port address"))?
        .connect()
        .await
        .map_err(|_| format!("no tillflow Flight SQL server answers at {addr}: start one with `tillflow run --follow --flight {addr}`"))?;
    let mut client = FlightSqlServiceClient::new(channel);
    let info = client.execute(sql.to_string(), None).await.map_err(|e| server_said(e.to_string()))?;
    let mut batches = Vec::new();
    for endpoint in info.endpoint {
        let Some(ticket) = endpoint.ticket else { continue };
        let stream = client.do_get(ticket).await.map_err(|e| server_said(e.to_string()))?;
        batches.extend(stream.try_collect::<Vec<_>>().await.map_err(|e| server_said(e.to_string()))?);
    }
    Ok(batches)
}

/// The server's message without the transport's wrapping.
fn server_said(error: String) -> String {
    match error.find("message: \"") {
        Some(at) => error[at + 10..].split("\", details").next().unwrap_or(&error).to_string(),
        None => error,
    }
}
